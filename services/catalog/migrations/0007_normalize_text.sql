-- Titles, artists and genres are stored in NFC from now on, and the filters of ListDiscs are
-- normalized the same way; a row written before in another form would no longer be found by any
-- search, so it is brought to NFC too (the database is UTF8, see db/create_database.sql).
UPDATE catalog.discs
   SET title = normalize(title, NFC),
       artist = normalize(artist, NFC),
       genre = normalize(genre, NFC)
 WHERE NOT (title IS NFC NORMALIZED AND artist IS NFC NORMALIZED AND genre IS NFC NORMALIZED);
