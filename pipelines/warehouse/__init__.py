"""The warehouse's tables: the catalog and bootstrap of every table (`tables`), the reference tables loaded
from pricing/ and the home (`reference`), and the data contracts at layer boundaries (`contracts`)."""
