from app.core.jobs.service import JobService
from app.core.jobs.validation import JobSpec, PartSpec, parse_job_spec

__all__ = ["JobService", "JobSpec", "PartSpec", "parse_job_spec"]
