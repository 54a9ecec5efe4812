"""Design review: notes pinned to a part, the recommended orientation, and how each machine would make it.

No Qt here: the Design review tab, the CLI and tests call these."""

from app.core.review.candidates import Candidate, PartFacts, average_rates, candidates
from app.core.review.notes import NOTE_STATES, NotesService, PartNote, part_key
from app.core.review.orient import Pose, PoseFinder, pose_of, recommend_pose

__all__ = ["NOTE_STATES", "Candidate", "NotesService", "PartFacts", "PartNote", "Pose", "PoseFinder", "average_rates",
           "candidates", "part_key", "pose_of", "recommend_pose"]
