"""Verdicts per clause and profile, and the text, Markdown and HTML reports."""
