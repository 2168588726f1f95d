// Returns a product's photos (clips of kind 'still' that show it): clip, uri, caption.
// params: $product (Product id)
// surface: internal
MATCH (c:Clip)-[:SHOWS]->(:Product {id: $product})
WHERE c.kind = 'still'
RETURN c.id AS clip, c.uri AS uri, c.caption AS caption
ORDER BY clip
