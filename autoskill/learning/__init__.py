"""The learning loop: extract skills from what users and agents do, and maintain them."""

from autoskill.learning.heuristic import Candidate, HeuristicExtractor
from autoskill.learning.maintain import Decision, MergeThresholds, decide, merge_skills

__all__ = ["Candidate", "Decision", "HeuristicExtractor", "MergeThresholds", "decide", "merge_skills"]
