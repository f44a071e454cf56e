"""Word lists the generator draws realistic people, companies and assets from."""

from __future__ import annotations

FIRST_NAMES = tuple(
    """
    Aaliyah Abdul Ada Adrian Aiko Alejandro Alexei Alice Amara Amir Ana Anders Andrea Angela Anika
    Arjun Astrid Ayesha Beatriz Benjamin Bianca Bongani Bruno Camila Carlos Carmen Chen Chiara
    Chloe Connor Dalia Daniel Daniela David Deepa Diego Dmitri Elena Elif Emeka Emily Emma Erik
    Esther Fatima Felix Fernanda Fiona Francesca Gabriel Grace Hana Hannah Hassan Hugo Ibrahim
    Ines Ingrid Isabel Ivan Jamal James Jana Javier Jessica Jin Joao Jonas Jorge Julia Kai Kamal
    Karina Kenji Kofi Lars Laura Layla Leila Leon Lucas Lucia Luis Mai Malik Marco Maria Mariam
    Mateo Maya Mehmet Mei Mia Michael Miguel Mohammed Nadia Naomi Nikhil Nina Noah Nora Olga Oliver
    Omar Pablo Paula Pedro Priya Rafael Rahul Ravi Rosa Ruth Sakura Samuel Sara Sebastian Sofia
    Sophie Stefan Sunil Tariq Thomas Tomas Valentina Victor Wei Yara Yasmin Yusuf Zainab Zoe
    """.split()  # noqa: SIM905 - a word block reads better than 120 quoted strings
)

LAST_NAMES = tuple(
    """
    Abara Adeyemi Ahmed Alvarez Andersen Bauer Becker Bernard Bianchi Brown Campbell Castillo Chen
    Cohen Costa Cruz Dubois Dvorak Eriksson Fernandez Fischer Fontaine Garcia Gomez Gonzalez Gupta
    Haddad Hansen Hernandez Hoffmann Horvat Huang Ibrahim Ito Ivanova Jackson Jansen Jensen Johnson
    Kaya Khan Kim Kowalski Kruger Kumar Larsen Laurent Lee Lehmann Lopez Martin Martinez Meyer
    Moreau Morales Muller Murphy Nakamura Nguyen Novak Nowak Okafor Okonkwo Olsen Ortiz Osei Park
    Patel Perez Petrov Popescu Quinn Ramirez Reddy Richter Rivera Romano Rossi Ruiz Saito Sanchez
    Santos Schmidt Schneider Silva Singh Smith Sokolov Suzuki Tanaka Taylor Thompson Torres Tran
    Vargas Wagner Walker Wang Weber Williams Wilson Wong Yamamoto Yilmaz Zhang Zimmermann
    """.split()  # noqa: SIM905 - a word block reads better than 120 quoted strings
)

COMPANIES = (
    ("Northwind Outfitters", "northwindoutfitters.com"),
    ("Blue Harbor Coffee", "blueharbor.coffee"),
    ("Lumen & Oak Interiors", "lumenoak.com"),
    ("Cobalt Cycle Works", "cobaltcycle.com"),
    ("Fernhill Naturals", "fernhillnaturals.com"),
)

PERSONAL_DOMAINS = ("gmail.com", "gmail.com", "outlook.com", "hotmail.com", "yahoo.com")

JOB_TITLES = (
    "Marketing Manager",
    "Social Media Specialist",
    "Performance Marketer",
    "Content Strategist",
    "Brand Designer",
    "Community Manager",
    "Growth Lead",
    "Media Buyer",
    "Data Analyst",
    "E-commerce Manager",
    "Customer Support Lead",
    "Finance Controller",
    "Software Engineer",
    "Head of Marketing",
)

DEPARTMENTS = ("Marketing", "Sales", "Design", "Engineering", "Finance", "Support", "E-commerce")

MARKETS = ("US", "UK", "DE", "FR", "ES", "IT", "NL", "BR", "MX", "JP", "AU", "CA", "IN", "NORDICS")
CHANNELS = ("Prospecting", "Retargeting", "Brand", "Always-on", "Seasonal", "Launch", "Test")
PAGE_CATEGORIES = (
    "Clothing (Brand)",
    "Coffee Shop",
    "Interior Design Studio",
    "Bicycle Shop",
    "Health & Wellness Website",
    "Shopping & Retail",
    "Product/service",
)
CATALOG_KINDS = ("Core", "Outlet", "Seasonal", "Marketplace", "Wholesale", "Localised")
CURRENCIES = ("USD", "EUR", "GBP", "BRL", "JPY", "AUD", "CAD")
TIMEZONES = (
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Australia/Sydney",
)
AGENCY_WORDS = ("Media", "Digital", "Creative", "Performance", "Social", "Growth", "Studio")
PARTNER_STEMS = (
    "Brightline",
    "Kestrel",
    "Parallax",
    "Quarry",
    "Saltwater",
    "Tandem",
    "Vantage",
    "Wildflower",
    "Atlas",
    "Beacon",
    "Cinder",
    "Driftwood",
    "Ember",
    "Foxglove",
    "Granite",
    "Harbor",
)
SYSTEM_USER_NAMES = (
    "Conversions API",
    "Catalog Feed Sync",
    "Reporting Export",
    "Ads Automation",
    "CRM Audience Sync",
    "Lead Sync",
)
