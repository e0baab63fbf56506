"""Risk engine: vectorised prices and Greeks, implied vol, surfaces, risk arrays, Monte Carlo."""
