"""The scale test: two app servers behind nginx on shared stores (`make scale-test`)."""
