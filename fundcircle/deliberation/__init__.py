"""Deliberation: comments, questions and answers, following proposals, moderation."""
