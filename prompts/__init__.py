"""Prompt text for the NIM versions of the agents — one module per role. Retrieved text is always
passed through :func:`sovereign.prompts.fencing.fence`, labelled as data, never as instructions."""
