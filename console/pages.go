package console

func (s *Server) pageRoutes() {}
