"""Attachments and images on proposals, comments and reports."""
