"""Who may see what: access levels, the GDI dataset identifier visas name, access tokens and
their verification against trusted issuers' keys, GA4GH Passports and visas, the one
granularity decision per dataset (policy.py), and the development AAI's issuer. A core: no
`node` import, no HTTP server; it fetches keys and userinfo over a client session it is given."""
