-- Seed data of the benchmark; ids are made from numbers so that pgbench can pick one at random:
-- 00000000-0000-7000-8000-000000000042 is number 42.

-- name: count_discs
SELECT count(*) AS discs FROM catalog.discs;

-- name: seed_discs
-- Discs numbered first to last. The first `hot` ones have a stock that never runs out (the
-- purchase benchmark buys them); artists, titles, genres and years vary as in a real catalog.
WITH words AS (
    SELECT ARRAY['Ana', 'Bruno', 'Carla', 'Caetano', 'Chico', 'Dora', 'Elis', 'Fabio', 'Gal', 'Gilberto',
                 'Hugo', 'Ivan', 'Jorge', 'Joao', 'Julia', 'Lia', 'Luiz', 'Marisa', 'Milton', 'Nara',
                 'Otto', 'Paula', 'Rita', 'Rosa', 'Sergio', 'Tom', 'Vera', 'Vinicius', 'Wilson', 'Zeca',
                 'Arnaldo', 'Beth', 'Clara', 'Djavan', 'Edu', 'Flora', 'Gonzaga', 'Ney', 'Raul', 'Tim'] AS first,
           ARRAY['Silva', 'Souza', 'Costa', 'Santos', 'Oliveira', 'Pereira', 'Lima', 'Carvalho', 'Ferreira',
                 'Rodrigues', 'Almeida', 'Nascimento', 'Araujo', 'Barbosa', 'Ribeiro', 'Martins', 'Rocha',
                 'Gomes', 'Moreira', 'Teixeira', 'Cardoso', 'Mendes', 'Freitas', 'Nunes', 'Vieira', 'Monteiro',
                 'Moura', 'Pinto', 'Campos', 'Batista', 'Dias', 'Reis', 'Castro', 'Ramos', 'Farias', 'Lopes',
                 'Cunha', 'Miranda', 'Machado', 'Duarte'] AS last,
           ARRAY['amor', 'mar', 'sol', 'noite', 'dia', 'samba', 'rio', 'lua', 'estrela', 'saudade',
                 'cidade', 'tempo', 'vento', 'terra', 'fogo', 'agua', 'flor', 'sonho', 'canto', 'festa',
                 'caminho', 'janela', 'praia', 'morro', 'chuva', 'verao', 'inverno', 'sertao', 'baiao', 'choro',
                 'valsa', 'bossa', 'tarde', 'manha', 'segredo', 'carta', 'danca', 'ponte', 'barco', 'ilha'] AS word,
           ARRAY['MPB', 'Samba', 'Bossa Nova', 'Rock', 'Jazz', 'Blues', 'Forro', 'Choro', 'Pop', 'Soul',
                 'Funk', 'Reggae', 'Classical', 'Electronic', 'Hip Hop', 'Country', 'Folk', 'Metal',
                 'Punk', 'Tropicalia'] AS genre
)
INSERT INTO catalog.discs (id, title, artist, genre, release_year, price_cents, currency, stock, initial_stock)
SELECT id, title, artist, genre, release_year, price_cents, 'BRL', stock, stock
  FROM (
    SELECT ('00000000-0000-7000-8000-' || lpad(n::text, 12, '0'))::uuid AS id,
           initcap(w.word[1 + mod(abs(hashint4(n * 3)), 40)] || ' ' || w.word[1 + mod(abs(hashint4(n * 3 + 1)), 40)]) AS title,
           w.first[1 + mod(abs(hashint4(n * 5)), 40)] || ' ' || w.last[1 + mod(abs(hashint4(n * 5 + 1)), 40)] AS artist,
           w.genre[1 + mod(abs(hashint4(n * 7)), 20)] AS genre,
           1950 + mod(abs(hashint4(n * 11)), 76) AS release_year,
           1990 + mod(abs(hashint4(n * 13)), 8000) AS price_cents,
           CASE WHEN n <= %(hot)s THEN 1000000000 ELSE mod(abs(hashint4(n * 17)), 50) END AS stock
      FROM generate_series(%(first)s, %(last)s) AS n, words AS w
  ) AS generated
ON CONFLICT (id) DO NOTHING;

-- name: seed_customers
-- Each signed up as subject bench-<n>, whose token the benchmark mints (a data directory seeded
-- before sign-up existed gets its subjects here too).
INSERT INTO customers.customers (id, name, email, subject)
SELECT ('00000000-0000-7000-8000-' || lpad(n::text, 12, '0'))::uuid, 'Bench Customer ' || n,
       'bench-' || n || '@example.com', 'bench-' || n
  FROM generate_series(1, %(customers)s) AS n
ON CONFLICT (id) DO UPDATE SET subject = EXCLUDED.subject WHERE customers.subject IS NULL;
