"""What every frontend (wizard, command line, plain mode) shares: the target built once, exit codes, error words,
and the access steps after a deploy. Sits between `swarmwiz.core` and the frontends; imports neither a frontend
nor textual."""
