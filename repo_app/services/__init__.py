"""Domain services: each checks permission, validates, changes the database, registers
work that runs after commit (indexing), and returns the result."""
