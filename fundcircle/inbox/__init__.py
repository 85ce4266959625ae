"""The inbox: every notice a person was sent, kept for them in the app, and what is their turn to do now."""
