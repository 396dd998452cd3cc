"""click commands: parse options, call one function, render its result."""
