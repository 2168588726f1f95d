// Returns every selling point's text for SAR: selling_point (id), text, product (id).
// params: none
MATCH (s:SellingPoint)
RETURN s.id AS selling_point, s.text AS text, s.product AS product
