"""Faces: the command line, the classroom page, replays and figures."""
