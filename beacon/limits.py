"""PostgreSQL's integer, the one limit the node's numbers are held to in several places: the
variant store's positions, a disclosure rule and a floor's values (the statements take them
as integers), and the settings' bounds. One name for it, in a module the settings can import
without loading the rest of the core."""

INT4_MAX = 2**31 - 1
