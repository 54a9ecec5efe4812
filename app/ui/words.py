"""The words an operator reads for the core's enums; they live in the domain (``app.core.domain.words``) so the
command line reads the same as the window."""

from app.core.domain.words import (
    JOB_WORDS,
    NODE_WORDS,
    PROCESS_WORDS,
    job_state_word,
    node_state_word,
    process_word,
    working_word,
)

__all__ = ["JOB_WORDS", "NODE_WORDS", "PROCESS_WORDS", "job_state_word", "node_state_word", "process_word",
           "working_word"]
