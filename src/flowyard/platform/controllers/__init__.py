"""Controllers: loops that reconcile stored resources into processes on this machine."""
