"""Models of the response workflow (see DESIGN.md, "The life of a request")."""
