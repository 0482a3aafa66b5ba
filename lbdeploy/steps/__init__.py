"""One module per concern; a step compares desired state with facts, offline."""
