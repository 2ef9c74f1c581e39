"""Policy data: lexicons and seed lists, plain text, one entry per line."""
