"""The Cloudflare half of the lab API: state, views (answers) and routes."""
