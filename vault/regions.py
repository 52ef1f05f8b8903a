"""Countries and first-level regions a source may pick: coarse by design.

Codes are ISO 3166-1 (countries) and ISO 3166-2 (regions). No finer place, no GPS, no
map: a village can identify a survivor. Countries where WWoW works come with their
regions; other countries of concern come alone (the free "place" answer is optional).
Region names are proper names, shown as their official forms; country names are shown
in the reader's language from CLDR (Babel), so they need no catalogue entry.

Burundi's list is the 18 provinces in use before the 2025 reform, the names that
refugees met in Rwanda still use; review with the field team when that changes.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["REGIONS"]

_GN = {
    "GN-B": "Boké",
    "GN-C": "Conakry",
    "GN-D": "Kindia",
    "GN-F": "Faranah",
    "GN-K": "Kankan",
    "GN-L": "Labé",
    "GN-M": "Mamou",
    "GN-N": "Nzérékoré",
}
_RW = {
    "RW-01": "Kigali",
    "RW-02": "Iburasirazuba / Est",
    "RW-03": "Amajyaruguru / Nord",
    "RW-04": "Iburengerazuba / Ouest",
    "RW-05": "Amajyepfo / Sud",
}
_BI = {
    "BI-BB": "Bubanza",
    "BI-BM": "Bujumbura Mairie",
    "BI-BL": "Bujumbura Rural",
    "BI-BR": "Bururi",
    "BI-CA": "Cankuzo",
    "BI-CI": "Cibitoke",
    "BI-GI": "Gitega",
    "BI-KR": "Karuzi",
    "BI-KY": "Kayanza",
    "BI-KI": "Kirundo",
    "BI-MA": "Makamba",
    "BI-MU": "Muramvya",
    "BI-MY": "Muyinga",
    "BI-MW": "Mwaro",
    "BI-NG": "Ngozi",
    "BI-RM": "Rumonge",
    "BI-RT": "Rutana",
    "BI-RY": "Ruyigi",
}
_CD = {
    "CD-BC": "Kongo-Central",
    "CD-BU": "Bas-Uele",
    "CD-EQ": "Équateur",
    "CD-HK": "Haut-Katanga",
    "CD-HL": "Haut-Lomami",
    "CD-HU": "Haut-Uele",
    "CD-IT": "Ituri",
    "CD-KC": "Kasaï-Central",
    "CD-KE": "Kasaï-Oriental",
    "CD-KG": "Kwango",
    "CD-KL": "Kwilu",
    "CD-KN": "Kinshasa",
    "CD-KS": "Kasaï",
    "CD-LO": "Lomami",
    "CD-LU": "Lualaba",
    "CD-MA": "Maniema",
    "CD-MN": "Mai-Ndombe",
    "CD-MO": "Mongala",
    "CD-NK": "Nord-Kivu",
    "CD-NU": "Nord-Ubangi",
    "CD-SA": "Sankuru",
    "CD-SK": "Sud-Kivu",
    "CD-SU": "Sud-Ubangi",
    "CD-TA": "Tanganyika",
    "CD-TO": "Tshopo",
    "CD-TU": "Tshuapa",
}
_ALONE = (
    "AF", "BF", "CF", "CM", "CO", "ET", "HT", "IQ", "KE", "LY", "ML", "MM", "MZ", "NE",
    "NG", "SD", "SO", "SS", "SY", "TD", "TZ", "UA", "UG", "YE",
)  # fmt: skip

REGIONS: MappingProxyType[str, MappingProxyType[str, str]] = MappingProxyType(
    {
        "GN": MappingProxyType(_GN),
        "RW": MappingProxyType(_RW),
        "BI": MappingProxyType(_BI),
        "CD": MappingProxyType(_CD),
        **{code: MappingProxyType({}) for code in _ALONE},
    }
)
