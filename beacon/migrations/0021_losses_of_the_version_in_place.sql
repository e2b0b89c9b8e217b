-- Each caller's losses and answers of a dataset's earlier versions (beacon/losses.py). The
-- swap that puts a version in place drops them (beacon/visibility.py
-- forget_earlier_versions), but a request that resolved the dataset before a swap was then
-- charged under the version it had resolved, after the swap: it wrote them again. The
-- accounts are now of the version in place in the caller's turn, and nothing writes an
-- earlier version's any more; these are the last of them (an answer of an earlier version
-- would hold the variant's key, which an answer of the version in place then could not take).
DELETE FROM disclosure_answers a USING datasets d
 WHERE d.id = a.dataset_id AND d.version <> a.version;
DELETE FROM disclosure_losses l USING datasets d
 WHERE d.id = l.dataset_id AND d.version <> l.version;
