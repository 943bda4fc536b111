"""IFD / Cherry LLM: instruction-following difficulty scoring and selection (Li et al., NAACL 2024)."""
