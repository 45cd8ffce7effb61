"""swarmwiz: a terminal wizard for Docker Swarm mode clusters on Scaleway with Cloudflare DNS."""

__version__ = "0.1.0"
