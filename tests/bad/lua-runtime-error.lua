error("refusing to load")
