"""Evaluation: metrics, the ``quco eval`` formats and the HTML report (installed as ``quco.evaluation``)."""
