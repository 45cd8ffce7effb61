"""The Scaleway half of the lab API: state, views (answers) and routes, plus server power."""
