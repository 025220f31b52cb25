"""The data a rung reads: sources, samples and fractions, masking, captured rows."""
