"""What every frontend (wizard, command line, plain mode) shares: the target built once, exit codes, error words,
the access steps after a deploy, and this computer's public address to suggest for SSH. Sits between
`swarmwiz.core` and the frontends; imports neither a frontend nor textual."""
