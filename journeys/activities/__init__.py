"""Activities: all I/O the workflows need, each class holding its outside dependency so tests can
swap it."""
