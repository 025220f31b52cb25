"""Running a rung: guarding its body, timing it, judging its growth, localizing its rows."""
