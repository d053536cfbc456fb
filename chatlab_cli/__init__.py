"""`chatlab`: the terminal client for a Chatlab server (login, bots, chat, history, export)."""
