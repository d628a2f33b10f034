"""LLM access: the openai-package client and the OpenAI-compatible simulator."""
