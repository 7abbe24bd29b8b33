"""Pages: self-contained HTML (building blocks, the heatmap page, the report page)."""
