"""The consolidated prefectural center: all 47 prefectures as isolated tenants."""
