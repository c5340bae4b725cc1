"""Custom Rasa components, loaded by the Rasa process (Python 3.10) from the project root."""
