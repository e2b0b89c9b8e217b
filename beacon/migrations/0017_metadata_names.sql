-- Datasets loaded from a metadata file before this migration stored four of its values
-- under their Python names (contact_email, contact_name, health_categories,
-- applicable_legislation), while the file, docs/catalogue.md and every reader of the
-- dataset's `info` (the web page's contact link, the healthCategories dataset filter) use
-- the file's names. They are renamed here once, so that every reader sees one name whatever
-- the dataset was loaded with; where a dataset already states the documented name, that
-- value is kept.
UPDATE datasets AS d
   SET metadata = (d.metadata - 'contact_email' - 'contact_name' - 'health_categories'
                   - 'applicable_legislation')
                  || coalesce((SELECT jsonb_object_agg(n.documented, d.metadata -> n.stored)
                                 FROM (VALUES ('contact_email', 'contactEmail'),
                                              ('contact_name', 'contactName'),
                                              ('health_categories', 'healthCategories'),
                                              ('applicable_legislation',
                                               'applicableLegislation')) AS n(stored, documented)
                                WHERE d.metadata ? n.stored AND NOT d.metadata ? n.documented),
                              '{}'::jsonb)
 WHERE d.metadata ?| ARRAY['contact_email', 'contact_name', 'health_categories',
                           'applicable_legislation'];
