// Creates the uniqueness constraint on each label's id property, when missing. Returns nothing.
// params: none
// surface: internal
CREATE CONSTRAINT product_id IF NOT EXISTS FOR (n:Product) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT category_name IF NOT EXISTS FOR (n:Category) REQUIRE n.name IS UNIQUE;
CREATE CONSTRAINT selling_point_id IF NOT EXISTS FOR (n:SellingPoint) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT clip_id IF NOT EXISTS FOR (n:Clip) REQUIRE n.id IS UNIQUE;
CREATE CONSTRAINT motion_pattern_name IF NOT EXISTS FOR (n:MotionPattern) REQUIRE n.name IS UNIQUE;
