"""Learning from the site's own history (issue 15): durations, energy and failure risk, served by onnxruntime.

- ``records``: one finished job as training data (features known before it started, and what happened).
- ``features``: the fixed feature order the models take, and the baselines they are measured against.
- ``repository``: the ``learning_jobs`` table (history), collection from finished jobs, export.
- ``train``: fitting and ONNX export (scikit-learn and skl2onnx, imported only in the training worker).
- ``serve``: onnxruntime sessions, predictions with conformal intervals; the planner's duration port.
- ``registry``: versions on disk with data range and metrics; promotion only when better; rollback.
"""
