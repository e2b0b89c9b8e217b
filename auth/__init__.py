"""Who may see what: access levels now; tokens, passports and the access policy later."""
