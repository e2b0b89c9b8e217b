-- First start of the stack's PostgreSQL: one database per service, owned by POSTGRES_USER.
-- (Run by the postgres image from /docker-entrypoint-initdb.d; later starts skip it.)
CREATE DATABASE fi;
CREATE DATABASE se;
CREATE DATABASE es;
CREATE DATABASE network;
CREATE DATABASE catalogue;
