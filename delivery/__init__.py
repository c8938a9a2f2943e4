"""Work orders out to the city's work-order system and its answers back: targets, worker, status sync."""
