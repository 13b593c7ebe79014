"""nanor1: a minimal, readable implementation of the DeepSeek-R1 training recipe."""
