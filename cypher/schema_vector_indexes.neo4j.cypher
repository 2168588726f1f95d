// Neo4j only: vector indexes on embeddings (the embedded ArcadeDB rejects CREATE VECTOR INDEX in Cypher; kdcvg creates them through its Python API). Returns nothing.
// params: none
// surface: internal
CREATE VECTOR INDEX selling_point_embedding IF NOT EXISTS FOR (n:SellingPoint) ON (n.embedding) OPTIONS {indexConfig: {`vector.dimensions`: 384, `vector.similarity_function`: 'cosine'}};
CREATE VECTOR INDEX clip_embedding IF NOT EXISTS FOR (n:Clip) ON (n.embedding) OPTIONS {indexConfig: {`vector.dimensions`: 384, `vector.similarity_function`: 'cosine'}};
